"""The consumers: assess (who must be told what, by when), notify, record, clock."""
