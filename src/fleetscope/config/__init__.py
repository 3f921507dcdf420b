"""Settings and the units they are written in: a leaf that every process (agent and server alike)
reads its configuration through; it imports no other fleetscope package."""
