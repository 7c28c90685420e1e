"""Services: one module per capability, what pages, REST, OpenRosa and the CLI all call."""
