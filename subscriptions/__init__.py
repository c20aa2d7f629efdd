"""Events: the log written with each change, the publish after commit, the per-process hub."""
