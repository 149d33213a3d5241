"""Frame sources: images, folders, videos, cameras and streams. The one reader of media; no Qt."""
