"""fleetscope: fleet performance monitoring."""

# The single source of the version (pyproject.toml reads it: [tool.setuptools.dynamic]). A literal
# rather than importlib.metadata.version(), whose imports cost the agent ~7 MB resident
# (measured: `import fleetscope` 15.3 MB maxrss with it, bare Python 8.5 MB).
__version__ = "0.1.0"
