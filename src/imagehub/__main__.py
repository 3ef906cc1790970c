from imagehub.cli import app

app(prog_name="imagehub")
