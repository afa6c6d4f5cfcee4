from hakisa.cli import console_main

console_main()
