"""On-call staff: bearer tokens with roles, sign-in, the actions they take on incidents and what they read."""
