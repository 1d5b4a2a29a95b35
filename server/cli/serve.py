"""`robust-canvas serve`: the web app (canvas at /, REST API under /api, docs at /docs)."""
import logging


def cmd_serve(args) -> int:
    # Imported here: training and the tasks need no web stack (a GPU box may have torch alone).
    import uvicorn

    from ..api.app import create_app
    from ..api.deps import is_loopback
    from ..serving import load_served, open_store, with_data_dir
    from ..settings import Settings
    settings = Settings.from_env(model_ids=tuple(args.model) if args.model else None, device=args.device,
                                 token=args.token, cors_origins=tuple(args.cors_origin) if args.cors_origin else None,
                                 ray=args.ray, ray_workers=args.ray_workers, data_dir=args.data_dir,
                                 store=False if args.no_store else None, host=args.host,
                                 insecure_open=args.insecure_open or None)
    settings = with_data_dir(settings)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = open_store(settings)  # a data dir that is not writable, a corrupt or locked database: exit 2, named
    has_people = bool(store and store.has_people())
    if store:
        store.close()
    if not (is_loopback(args.host) or settings.token or has_people or settings.insecure_open):
        raise ValueError(f"refusing to listen on {args.host} with nobody to let in: anyone who reaches it would "
                         "see and delete everything. Add a person first: `robust-canvas users add NAME` (it prints "
                         "their token; --data-dir as the server's), or pass --token SECRET; --insecure-open serves "
                         "everyone without a token, as one person")
    # before serving: a bad model is a usage error, not a crash at start-up (with Ray: only the cards)
    models = load_served(settings)
    uvicorn.run(create_app(settings, models=models), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the web app and REST API (uvicorn)",
                       description="Limits come from ROBUST_CANVAS_* variables: see docs/API.md.")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1; 0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", action="append", metavar="ID_OR_PATH",
                   help="a model to keep loaded (repeatable; the first is the default). Default: the shipped robust "
                        "models, the photo model first")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument("--token", help="a single admin's token: 'Authorization: Bearer TOKEN' on /api (also "
                                   "ROBUST_CANVAS_TOKEN); people with their own: `robust-canvas users add`")
    p.add_argument("--insecure-open", dest="insecure_open", action="store_true",
                   help="beyond 127.0.0.1 with nobody configured, serve everyone without a token (as one person); "
                        "without it such a server refuses to start")
    p.add_argument("--cors-origin", dest="cors_origin", action="append", metavar="ORIGIN",
                   help="allow browser calls from this origin (repeatable); CORS is off by default")
    p.add_argument("--ray", metavar="auto|ADDRESS",
                   help="solve jobs on Ray model workers (pip install 'robust-canvas[ray]'): 'auto' starts a local "
                        "Ray, an address (ray://host:10001 or host:6379) joins a cluster; see docs/DEPLOY.md")
    p.add_argument("--ray-workers", dest="ray_workers", type=int,
                   help="model workers (default: one per GPU of the cluster, else one per CPU core)")
    p.add_argument("--data-dir", dest="data_dir", metavar="DIR",
                   help="where results (outputs/<date>/*.png) and the job database live (also ROBUST_CANVAS_DATA_DIR; "
                        "default $XDG_DATA_HOME/robust-canvas, i.e. ~/.local/share/robust-canvas)")
    p.add_argument("--no-store", dest="no_store", action="store_true",
                   help="keep no results and no history: jobs live in memory only, and are lost with the server")
    p.add_argument("--log-level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)
