"""The vlsbench builder."""
