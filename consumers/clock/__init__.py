"""The clock consumer: follows every legal due time and reminds or escalates to on-call."""
