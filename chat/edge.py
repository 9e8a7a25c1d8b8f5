"""The header CloudFront adds to every request it sends the site, proving it came through it.

Its value is derived from the site's SECRET_KEY, so the deploy (which reads that key from SSM)
and the site compute the same one and nothing new is stored; no Django import: the deploy
tool imports this too.
"""

from __future__ import annotations

import hashlib
import hmac

EDGE_HEADER = "X-Dynamowave-Edge"
# CloudFront's "address:port" of the viewer (forwarded by the managed AllViewerExceptHostHeader
# origin request policy: template.yaml, SiteDistribution).
VIEWER_HEADER = "CloudFront-Viewer-Address"


def edge_secret(*, secret_key: str) -> str:
    """The value of EDGE_HEADER for a site with this SECRET_KEY."""
    return hmac.new(secret_key.encode(), b"dynamowave-cloudfront-edge", hashlib.sha256).hexdigest()


def edge_verified(*, secret_key: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(sent, edge_secret(secret_key=secret_key))
