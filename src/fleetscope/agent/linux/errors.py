"""The one error type the Linux parsers raise."""


class ParseError(ValueError):
    """A /proc or /sys file did not have the shape its parser expects.

    The message names the file, the 1-based line and the offending text, so a report from a
    strange kernel can be acted on without a reproduction.
    """

    def __init__(self, source: str, line_no: int, text: str, reason: str) -> None:
        self.source = source
        self.line_no = line_no
        self.text = text
        self.reason = reason
        shown = text if len(text) <= 200 else text[:200] + "..."
        super().__init__(f"{source}:{line_no}: {reason}: {shown!r}")
