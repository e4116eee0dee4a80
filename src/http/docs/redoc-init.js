// Renders the API reference from this server's schema into the page.
Redoc.init('/openapi.json', { hideDownloadButton: false }, document.getElementById('redoc-container'));
