"""Drawing: colour maps, boxes and palette, captions and file names, figures. No Qt."""
