"""Model configuration shared by every wire contract."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Strict types (a string is not a number), unknown fields ignored (CADs send more than we read)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, str_max_length=100_000)
