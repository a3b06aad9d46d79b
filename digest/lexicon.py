"""French and English news words that name the same thing, mapped to one term.

Grouping compares the words of articles; a French and an English report of the same event share
names and numbers but few words ("séisme", "earthquake"). This small, general list of news
vocabulary (no story in particular) lets them meet. Words are folded (no accents, lower case);
each line is one concept: its term first, then the French and English forms that mean it.
"""

from __future__ import annotations

CONCEPTS = """
death mort morts morte mortes deces decede decedee tue tues tuee tuees died dies dead deaths killed kills killing kill
earthquake seisme seismes tremblement tremblements earthquakes quake quakes
flood inondation inondations crue crues floods flooding flooded
fire incendie incendies feu feux fires wildfire wildfires blaze
strike greve greves strikes striking
election elections legislatives presidentielle scrutin polls
pope pape
rate taux rates
cut baisse baisses abaisse cuts cutting
rise hausse hausses rises raise raises raising
bank banque banques banks
central centrale centrales
government gouvernement gouvernements governments
parliament parlement parlements parliaments
defence defense
spending depenses
minister ministre ministres ministers
president presidente presidents
investigation enquete enquetes inquiry investigations
theft vol vols vole volee voles volees stolen stole steal thefts
thief voleur voleurs thieves
painting tableau tableaux paintings
museum musee musees museums
school ecole ecoles schools
hospital hopital hopitaux hospitals
doctor medecin medecins doctors
vaccine vaccin vaccins vaccination vaccinations vaccines
epidemic epidemie epidemies epidemics
flu grippe influenza
bird aviaire oiseau oiseaux birds
farm elevage elevages ferme fermes farms
duck canard canards ducks
sailor marin marins sailors
crossing traversee traversees crossings
firefighter pompier pompiers firefighters
resident habitant habitants residents
evacuation evacue evacues evacuee evacuees evacuations evacuated evacuate
forest foret forets forests
damage degat degats dommages damages
victim victime victimes victims
rain pluie pluies rains rainfall
storm orage orages tempete tempetes storms
river riviere rivieres fleuve fleuves rivers
island ile iles islands
north nord
south sud
west ouest
spain espagne spanish espagnol espagnole
germany allemagne german allemand allemande
italy italie italian italien italienne
greece grece greek grec grecque
slovenia slovenie slovene slovenian
morocco maroc moroccan marocain marocaine
england angleterre english anglais anglaise
belgium belgique belgian belge
switzerland suisse swiss
russia russie russian russe
china chine chinese chinois chinoise
europe european europeen europeenne europeens
france french francais francaise
london londres
brussels bruxelles
lisbon lisbonne
athens athenes
century siecle siecles centuries
window fenetre fenetres windows
victory victoire victoires remporte gagne win wins won winner
runner coureur coureurs runners
race course courses races
climber grimpeur grimpeurs climbers
route parcours routes
summit sommet sommets summits
unveil devoile devoilee presente presentee unveils unveiled launch launches launched lance lancement
phone telephone telephones smartphone smartphones phones
screen ecran ecrans screens
price prix prices
billion milliard milliards billions
million millions
deal contrat contrats accord accords deals agreement agreements
visit visite visites visits
king roi
union syndicat syndicats unions
pension retraite retraites pensions
funding financement
talks negociations negotiations consultation
employers patronat
interest interet interets
campaign campagne campagnes campaigns
health sante sanitaire sanitaires
authorities autorites
extend prolonge prolongee prolongation extends extended
tram tramway tramways trams
line ligne lignes lines
free gratuit gratuits gratuite gratuites
opening ouverture ouvre inauguration opens
student etudiant etudiants students
"""

LEXICON: dict[str, str] = {
    form: line.split()[0] for line in CONCEPTS.strip().splitlines() for form in line.split()
}
