"Package metadata comes from settings.ini, the single source of truth (as in classic nbdev projects)."
from configparser import ConfigParser
from pathlib import Path
import re
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here/'settings.ini', encoding='utf-8')
if not cfg.has_option('DEFAULT', 'lib_name'): raise FileNotFoundError(f"settings.ini is missing or incomplete in {here}")
cfg = cfg['DEFAULT']

licenses = dict(apache2='Apache-2.0')   # settings.ini's nbdev name -> SPDX expression (PEP 639: no License classifier)
statuses = '1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable'
min_python = cfg['min_python']
py_versions = [v for v in '3.10 3.11 3.12 3.13'.split() if tuple(map(int, v.split('.'))) >= tuple(map(int, min_python.split('.')))]
reqs = lambda key: cfg.get(key, '').split()

github = f"https://github.com/{cfg['user']}/{cfg['repo']}"
raw = f"https://raw.githubusercontent.com/{cfg['user']}/{cfg['repo']}/{cfg['branch']}"
docs = f"https://{cfg['user']}.github.io/{cfg['repo']}/"   # where nbdev publishes the docs (GitHub Pages) by default
# PyPI shows the README without the repository around it: point its relative images at the repository's files
readme = re.sub(r'(!\[[^\]]*\]\()(?!https?://)([^)\s]+)\)', rf'\1{raw}/\2)', (here/'README.md').read_text(encoding='utf-8'))

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=readme,
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'].split(),
    author=cfg['author'], author_email=cfg['author_email'],
    license_expression=licenses[cfg['license']],
    license_files=['LICENSE'],
    url=github,
    project_urls={'Homepage': github, 'Documentation': docs, 'Source': github,
                  'Changelog': f"{github}/blob/{cfg['branch']}/CHANGELOG.md", 'Issues': f"{github}/issues"},
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name']+'.*']),
    include_package_data=True,
    python_requires=f'>={min_python}',
    install_requires=reqs('requirements'),
    extras_require={'explain': reqs('explain_requirements'), 'shap': reqs('shap_requirements'),
                    'test': reqs('explain_requirements') + reqs('shap_requirements') + reqs('test_requirements'),
                    'transformers': reqs('transformers_requirements'),
                    # dev: also the transformers extra, so CI runs the transformer tests (.ci/floors, on [test], skips them)
                    'dev': reqs('explain_requirements') + reqs('shap_requirements') + reqs('test_requirements') +
                           reqs('transformers_requirements') + reqs('dev_requirements')},
    classifiers=[f'Development Status :: {statuses[int(cfg["status"])-1]}', f'Intended Audience :: {cfg["audience"]}',
                 f'Natural Language :: {cfg["language"]}', 'Programming Language :: Python :: 3',
                 'Programming Language :: Python :: 3 :: Only'] +
                [f'Programming Language :: Python :: {v}' for v in py_versions] +
                [c.strip() for c in cfg.get('classifiers', '').splitlines() if c.strip()],
    entry_points={'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    zip_safe=False,
)
