"""The phone menu: a tenant's menu (``menus``) and what callers' answers to it do (``flow``)."""
