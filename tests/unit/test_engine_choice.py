"""Which engine a mode starts with and which the app and CLI try first."""
from colorstudio.engines.registry import ENGINES, default_engine, engines_by_preference, engines_for_mode


def test_networks_come_before_weight_free_engines_and_then_by_preference():
    for mode in ("hints", "auto", "reference", "palette", "style"):
        names = engines_by_preference(mode)
        assert sorted(names) == sorted(engines_for_mode(mode))
        has_models = [bool(ENGINES[n].models) for n in names]
        assert has_models == sorted(has_models, reverse=True), (mode, names)
        for a, b in zip(names, names[1:]):
            if bool(ENGINES[a].models) == bool(ENGINES[b].models):
                assert ENGINES[a].preference >= ENGINES[b].preference, (mode, names)


def test_style_prefers_the_bundled_network_to_the_downloadable_one():
    # MicroAST ships inside the package; AdaIN must be downloaded. Both are networks, and
    # MicroAST's declared preference is the higher: it comes first, and it is the default.
    names = engines_by_preference("style")
    assert names.index("microast") < names.index("adain")
    assert default_engine("style") == "microast"
    assert not ENGINES["microast"].needs_weights and ENGINES["adain"].needs_weights
