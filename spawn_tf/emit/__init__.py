"""Emitters: a Plan as files (Terraform JSON, scripts, the manifest), and the one place that writes them."""
