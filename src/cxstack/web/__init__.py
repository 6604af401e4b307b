"""The ASGI application: mounts each layer's router, middleware and OpenAPI."""
