// /docs: the API reference, rendered offline by swagger-ui (copied from npm into /assets/swagger)
// from the API's own /v1/openapi.json.
import { apiBase } from "./api";

declare global {
  interface Window {
    SwaggerUIBundle?: (options: Record<string, unknown>) => unknown;
  }
}

const spec = `${apiBase}/v1/openapi.json`;
(document.getElementById("spec-link") as HTMLAnchorElement).href = spec;

function render(): void {
  const error = document.getElementById("docs-error") as HTMLElement;
  if (!window.SwaggerUIBundle) {
    error.textContent = "The API reference renderer did not load.";
    return;
  }
  window.SwaggerUIBundle({
    url: spec,
    dom_id: "#swagger",
    deepLinking: true,
    validatorUrl: null, // no calls to validator.swagger.io: everything stays local
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
    onComplete: () => document.body.setAttribute("data-rendered", "true"),
  });
}

// The renderer is a classic deferred script: it has run by DOMContentLoaded.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
else render();
