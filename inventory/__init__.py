"""Asset inventory (资产台账): filed rows and their history, spreadsheet import/export, the national app
registry, the address book and monitoring coverage the collectors enrich with."""
