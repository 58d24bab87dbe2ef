"""The medallion pipeline: landing → bronze → silver → gold → operational database."""
