"""What the HTTP routes of the gateway and of the long-audio jobs share: OpenAI's error envelope,
the request pieces both check, the scopes a caller needs, and what the deployment offers.

Both `tritontts.gateway` and `tritontts.jobs` import this package; it imports neither (the
import rules in pyproject.toml hold that)."""
