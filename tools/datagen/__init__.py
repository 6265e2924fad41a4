"""datagen: datasets in the take-home's format at any size (generate) and the hostile variants real feeds set (traps)."""
