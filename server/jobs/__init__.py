"""Jobs: the job record and its rules, the manager interface, and its embedded and Ray implementations."""
