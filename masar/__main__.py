from masar.cli import main

main()
