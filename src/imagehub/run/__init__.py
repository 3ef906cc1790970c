"""The processes that run imagehub: the `imagehub` command, the API's app, the worker and
beat, and what `imagehub serve` starts beside them (an embedded broker)."""
