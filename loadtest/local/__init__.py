"""Local stand-ins for what only exists on AWS, shared by the rehearsal and the tests."""
