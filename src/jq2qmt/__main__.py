from jq2qmt.cli import main

if __name__ == "__main__":
    main()
