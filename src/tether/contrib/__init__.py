"""Framework integrations: thin glue over the WSGI/ASGI middlewares and the protocol."""
