from django.apps import AppConfig
from django.conf import settings


class BenchConfig(AppConfig):
    name = "bench"
    verbose_name = "Benchmark"

    def ready(self):
        if settings.BENCH_STATS_DIR:
            from bench import instrument

            instrument.install(settings.BENCH_STATS_DIR)
