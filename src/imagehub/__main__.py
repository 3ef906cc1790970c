from imagehub.run.program import main

main()
