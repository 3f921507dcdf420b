"""fleetscope: fleet performance monitoring."""

# The single source of the version (pyproject.toml reads it: [tool.setuptools.dynamic]). A literal
# rather than importlib.metadata.version(), whose imports would almost double the resident
# memory `import fleetscope` costs the agent (docs/code-choices.md, version-literal).
__version__ = "0.1.0"
