// Swagger UI over this server's OpenAPI. No inline script: the CSP allows scripts from this
// origin only (edge/headers.py). validatorUrl null: the default badge calls a public validator.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
