"""Reading the screen: reward/done rules and the region tools."""
