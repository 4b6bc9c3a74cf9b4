"""The live web page: a local server (routes, token, live events), the page's data, and its static files."""
