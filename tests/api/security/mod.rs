mod bombs;
