"Package metadata comes from settings.ini, the single source of truth (as in classic nbdev projects)."
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here/'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = dict(apache2=('Apache-2.0', 'License :: OSI Approved :: Apache Software License'))
lic_name, lic_classifier = licenses[cfg['license']]
statuses = '1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable'
min_python = cfg['min_python']
py_versions = [v for v in '3.10 3.11 3.12 3.13'.split() if tuple(map(int, v.split('.'))) >= tuple(map(int, min_python.split('.')))]

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'].split(),
    author=cfg['author'], author_email=cfg['author_email'],
    license=lic_name,
    url=f"https://github.com/{cfg['user']}/{cfg['repo']}",
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name']+'.*']),
    include_package_data=True,
    python_requires=f'>={min_python}',
    install_requires=cfg['requirements'].split(),
    extras_require={'dev': cfg['dev_requirements'].split(), 'explain': cfg['explain_requirements'].split(),
                    'shap': cfg['shap_requirements'].split()},
    classifiers=[f'Development Status :: {statuses[int(cfg["status"])-1]}', f'Intended Audience :: {cfg["audience"]}',
                 f'Natural Language :: {cfg["language"]}', lic_classifier] +
                [f'Programming Language :: Python :: {v}' for v in py_versions],
    entry_points={'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    zip_safe=False,
)
