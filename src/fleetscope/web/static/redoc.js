// ReDoc over this server's OpenAPI; loaded by redoc.html (no inline script, see docs.js).
"use strict";
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
