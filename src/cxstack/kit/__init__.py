"""Generic building blocks every layer uses and none owns: errors, ids, the clock, pagination, files,
input rules, the declarative base and the strict pydantic base."""
