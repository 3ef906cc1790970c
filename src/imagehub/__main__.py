from imagehub.run.cli import app

app(prog_name="imagehub")
