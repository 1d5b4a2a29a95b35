"""The Ray job manager: the front end's side (`manager`), the job store and the model workers (actors)."""
