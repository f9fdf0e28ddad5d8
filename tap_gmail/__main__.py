from .tap import main

main()
