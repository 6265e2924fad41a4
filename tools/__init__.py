"""The programs people run, outside the Mage project: run (make run), editor (make editor, the
compose editor), local_pg (the embedded Postgres), answers (make answers), bench (make bench) and
datagen (the generator of datasets and their traps). They import the Mage project; it never imports
them."""
