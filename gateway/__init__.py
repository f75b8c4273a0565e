"""storygate: one self-hosted gateway for four story-generation APIs."""

__version__ = "0.1.0"
