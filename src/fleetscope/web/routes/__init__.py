"""The read API's routes, a module per resource."""
