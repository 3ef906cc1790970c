"""The HTTP edge every domain's endpoints stand on: request dependencies, routing, the one
error envelope, the middleware around every request, links to stored files, the API docs."""
