"""What the CLI shows: plain dicts and dataclasses in, rich renderables or text out."""
