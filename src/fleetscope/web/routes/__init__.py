"""One module per REST resource, each with its own APIRouter."""
