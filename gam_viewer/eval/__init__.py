"""Dataset evaluation: datasets, matching and A/B outcomes, COCO metrics with a paired
bootstrap, attention statistics, model cost, and the report files. No Qt here."""
